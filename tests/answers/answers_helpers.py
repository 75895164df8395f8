"""Test material shared by the answers tests (a unique module name, importable from tests)."""

OSMOSIS = (
    "Osmosis is the movement of water across a semipermeable membrane from a region of low "
    "solute concentration to a region of high solute concentration."
)
MITOCHONDRIA = (
    "Mitochondria are the powerhouse of the cell: they produce ATP through cellular respiration."
)
PHOTOSYNTHESIS = (
    "Photosynthesis converts light energy into chemical energy stored in glucose, "
    "inside the chloroplasts of plant cells."
)

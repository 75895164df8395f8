"""Material the OpenAI gateway tests teach (a unique module name, importable from tests)."""

OSMOSIS = (
    "Osmosis is the movement of water molecules across a semipermeable membrane from a "
    "dilute solution into a more concentrated one. Plant roots absorb water from the soil "
    "by osmosis."
)
MITOCHONDRIA = (
    "Mitochondria are organelles that produce most of the cell's ATP through cellular "
    "respiration. They have their own DNA, inherited from the mother."
)

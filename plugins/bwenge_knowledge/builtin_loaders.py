"""The built-in knowledge loaders, registered lazily (see ``register_loaders``)."""

from __future__ import annotations

LOADERS = "bwenge_knowledge.loaders"

AUDIO_EXTENSIONS = (".mp3", ".wav", ".m4a", ".ogg", ".flac")
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov", ".mkv")


def register_builtin_loaders(register) -> None:
    """Register the built-in loaders by import path: nothing is imported until a file
    of that kind is ingested."""
    register(
        f"{LOADERS}:PDFReader",
        extensions=(".pdf",),
        media_types=("application/pdf",),
        name="pdf",
        kind="pdf",
    )
    register(
        f"{LOADERS}:DocxReader",
        extensions=(".docx",),
        name="docx",
        kind="docx",
        media_types=("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
    )
    register(
        f"{LOADERS}:PptxReader",
        extensions=(".pptx",),
        name="pptx",
        kind="pptx",
        media_types=("application/vnd.openxmlformats-officedocument.presentationml.presentation",),
    )
    register(
        f"{LOADERS}:TextReader",
        extensions=(".txt", ".text"),
        media_types=("text/plain",),
        name="text",
        kind="text",
    )
    register(
        f"{LOADERS}:TextReader",
        extensions=(".md", ".markdown"),
        media_types=("text/markdown",),
        name="markdown",
        kind="markdown",
    )
    register(
        f"{LOADERS}:HTMLReader",
        extensions=(".html", ".htm"),
        media_types=("text/html",),
        name="html",
        kind="html",
    )
    register(
        f"{LOADERS}:MediaReader",
        extensions=AUDIO_EXTENSIONS,
        name="audio",
        kind="audio",
        media_types=("audio/mpeg", "audio/wav", "audio/mp4", "audio/ogg", "audio/flac"),
    )
    register(
        f"{LOADERS}:MediaReader",
        extensions=VIDEO_EXTENSIONS,
        name="video",
        kind="video",
        media_types=("video/mp4", "video/webm", "video/quicktime", "video/x-matroska"),
    )

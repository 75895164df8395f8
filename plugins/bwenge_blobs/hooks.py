"""Hook implementations of the blobs plugin: the ``local`` and ``s3`` blob stores."""

from __future__ import annotations

from pathlib import Path

from bwenge import hookimpl


@hookimpl
def register_settings(register):
    from .settings import BlobSettings

    register("blobs", BlobSettings)


@hookimpl
def register_blob_stores(register):
    register("local", local_factory)
    register("s3", s3_factory)


def local_factory(kernel):
    """``blobs.store = "local"``: files under ``blobs.path`` (default the data dir)."""
    from .local import LocalBlobStore

    return LocalBlobStore(kernel.settings_for("blobs").path or Path(kernel.data_dir))


def s3_factory(kernel):
    """``blobs.store = "s3"``: the ``[blobs.s3]`` bucket of an S3-compatible server."""
    from .s3 import S3BlobStore

    return S3BlobStore(kernel.settings_for("blobs").s3)


def make_blobs(kernel):
    """The store ``blobs.store`` names (an unknown name fails start-up, naming the
    installed stores)."""
    return kernel.blob_stores.get(kernel.settings_for("blobs").store)(kernel)


@hookimpl
def register_services(register):
    from bwenge.contracts.blobs import BlobStore

    register("blobs", make_blobs, provides=BlobStore)


@hookimpl
def register_readiness_checks(register):
    register("blobs", lambda kernel: kernel.blob_store().check())


@hookimpl
def register_deployment_checks(register):
    def blobs(kernel, workers):
        instances = kernel.core.server.instances
        if instances > 1 and kernel.settings_for("blobs").store == "local":
            return [
                f'blobs: blobs.store = "local" keeps files on one machine but '
                f'server.instances = {instances}; set blobs.store = "s3" with blobs.s3.bucket '
                "(any S3-compatible server) so every instance sees the same files"
            ]
        return None

    register("blobs", blobs)

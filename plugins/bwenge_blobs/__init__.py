"""Blob stores: uploaded files and avatar models, on local disk or in S3-compatible storage."""

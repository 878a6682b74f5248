"""s3proxy: one private S3 bucket over HTTP(S): basic auth, streaming, RFC 9110 semantics."""

__version__ = "0.1.0"

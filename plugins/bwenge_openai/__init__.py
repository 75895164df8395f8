"""An OpenAI-compatible gateway: every released persona is a model of ``/v1``."""

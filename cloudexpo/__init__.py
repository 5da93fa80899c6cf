"""Cloud Expo: a self-hosted online exhibition with live launches."""

__version__ = "0.1.0"

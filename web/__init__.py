"""The HTTP surface of Cloud Expo."""

"""GitHub: webhook events, handlers, the API client and the repository config."""

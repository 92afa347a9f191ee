"""Use cases shared by pages, the JSON API, socket handlers, jobs and the CLI."""

"""Custom actions of the assistant (rasa-sdk action server, Python 3.11 environment)."""

"""The customer web chat page: the rasa-webchat widget talking to Rasa's socket.io channel."""

"""Handoff of conversations from the bot to human agents."""

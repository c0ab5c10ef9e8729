"""Openflow concern."""

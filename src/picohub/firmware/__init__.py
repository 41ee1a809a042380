"""Pico firmware images and their manifest."""

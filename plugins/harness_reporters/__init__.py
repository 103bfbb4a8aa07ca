"""harness_reporters"""

"""harness_toxiproxy"""

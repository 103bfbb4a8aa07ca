"""harness_respx"""

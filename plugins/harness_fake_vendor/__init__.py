"""harness_fake_vendor"""

"""Test doubles and harnesses (no tests here): processes the tests start with python -m tests.support.<name>."""

"""Running a scenario: the stack, the fault timeline, the in-process load driver, targets."""

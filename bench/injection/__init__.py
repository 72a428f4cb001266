"""The project's own prompt-injection suite: environments, user tasks, injection goals."""

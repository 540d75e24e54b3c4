"""musical-chair device side: wire format, task tables, executors, the stream runtime, the agent."""

__version__ = "0.1.0"

"""course_lib: the library every chapter of the RNN course uses."""
__version__ = "0.1.0"

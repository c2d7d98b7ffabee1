"""nbgrader settings for the course: instructor notebooks in solutions/, student notebooks in notebooks/."""

c = get_config()  # noqa: F821 (nbgrader injects get_config)

c.CourseDirectory.course_id = "rnn-course"
# nbgrader's "source" is our instructor edition: solutions/<chapter>/<chapter>.ipynb
c.CourseDirectory.source_directory = "solutions"
# nbgrader's "release" is what students get: notebooks/<chapter>/<chapter>.ipynb (committed)
c.CourseDirectory.release_directory = "notebooks"

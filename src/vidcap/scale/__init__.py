"""Scaling out: Ray cluster jobs over the task functions (:mod:`vidcap.scale.ray`, inputs from
object stores in :mod:`vidcap.scale.sources`) and training on several processes (:mod:`vidcap.scale.ddp`)."""

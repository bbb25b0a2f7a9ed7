"""What a person expects of a result list: good matches told from weak ones, the good
ones newest first on request, and a burst of near-identical photos shown once."""

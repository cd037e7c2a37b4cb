"""The Jenkins side of pysteps, in Python: what the shared library's vars call, and Jenkins' own API.

    request.py   `pysteps jenkins exec REQUEST.json`: one pysteps command given as data (the vars' helper)
    cleanup.py   `pysteps jenkins cleanup RUNS_DIR`: delete temporary groups that runs left behind
    jobs.py      `pysteps jenkins deploy`: render jenkins/jobs/*.yaml (Jenkins Job Builder) and upsert the jobs
    build.py     `pysteps jenkins build JOB -p K=V [--follow]`: trigger, wait, stream the console, exit by result
"""

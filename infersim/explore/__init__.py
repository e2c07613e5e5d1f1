"""`infersim explore`: a local, offline web app to turn a design's knobs and watch the
roofline, the latency and energy breakdown, the op timeline and the serving curve move.

`app` holds the computations (JSON in, JSON out, through the public API); `server` serves
them and the page in `static/` on 127.0.0.1.
"""

"""Face detector back ends: our FaceBoxes CNN, dlib's HOG detector and OpenCV's Haar cascades.

``engine.detect`` chooses one, runs it at the right scales and orientations and maps its
boxes into the crop's landmark-box convention; the modules here only find boxes.
"""

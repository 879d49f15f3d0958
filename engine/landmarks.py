"""The 68 iBUG landmarks by name: index ranges of the face's parts and a few single points.

Sides are the subject's own (as in rig naming): the subject's right eye, ``RIGHT_EYE``
(36-41), is on the left of a frontal photo. Ranges are ``range`` objects, so they index
NumPy arrays (``landmarks[RIGHT_EYE]``), make lists (``list(JAW)``) and test membership.
"""

from __future__ import annotations

NUM_LANDMARKS = 68

JAW = range(0, 17)           # from the subject's right ear round the chin to the left ear
RIGHT_BROW = range(17, 22)
LEFT_BROW = range(22, 27)
BROWS = range(17, 27)
NOSE_BRIDGE = range(27, 31)  # from between the brows down to the tip
NOSE_BASE = range(31, 36)    # the lower edge of the nose, nostril to nostril
NOSE = range(27, 36)
RIGHT_EYE = range(36, 42)    # outer corner, upper lid, inner corner, lower lid
LEFT_EYE = range(42, 48)     # inner corner, upper lid, outer corner, lower lid
EYES = range(36, 48)
OUTER_LIPS = range(48, 60)
INNER_LIPS = range(60, 68)   # the mouth opening
LIPS = range(48, 68)
INNER_FACE = range(17, 68)   # brows, nose, eyes and lips: everything but the jaw line

# Single points.
CHIN = 8
NOSE_TOP = 27                # between the eyes
NOSE_TIP = 30
NOSE_BOTTOM = 33             # under the tip, above the upper lip
RIGHT_EYE_OUTER = 36
RIGHT_EYE_INNER = 39
LEFT_EYE_INNER = 42
LEFT_EYE_OUTER = 45
MOUTH_RIGHT = 48
MOUTH_LEFT = 54
LOWER_LIP_BOTTOM = 57
OUTER_EYE_CORNERS = (RIGHT_EYE_OUTER, LEFT_EYE_OUTER)

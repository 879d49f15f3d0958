"""Live Link Face CSV reading and the ARKit shape-key plan (modules without bpy; importing the
add-on package still loads bpy, so blender_helpers comes first)."""

from __future__ import annotations

import numpy as np
import pytest

from blender_helpers import write_livelink_csv as write_take  # (before bpy: see its docstring)
from blender_prnet import expression_keys, livelink

ICT_NAMES = (
    'PupilDilate_L', 'PupilDilate_R', 'browDown_L', 'browDown_R', 'browInnerUp_L', 'browInnerUp_R',
    'browOuterUp_L', 'browOuterUp_R', 'cheekPuff_L', 'cheekPuff_R', 'cheekRaiser_L', 'cheekRaiser_R',
    'cheekSquint_L', 'cheekSquint_R', 'eyeBlink_L', 'eyeBlink_R', 'eyeLookDown_L', 'eyeLookDown_R',
    'eyeLookIn_L', 'eyeLookIn_R', 'eyeLookOut_L', 'eyeLookOut_R', 'eyeLookUp_L', 'eyeLookUp_R',
    'eyeSquint_L', 'eyeSquint_R', 'eyeWide_L', 'eyeWide_R', 'jawForward', 'jawLeft', 'jawOpen',
    'jawRight', 'mouthClose', 'mouthDimple_L', 'mouthDimple_R', 'mouthFrown_L', 'mouthFrown_R',
    'mouthFunnel', 'mouthLeft', 'mouthLowerDown_L', 'mouthLowerDown_R', 'mouthPress_L',
    'mouthPress_R', 'mouthPucker', 'mouthRight', 'mouthRollLower', 'mouthRollUpper',
    'mouthShrugLower', 'mouthShrugUpper', 'mouthSmile_L', 'mouthSmile_R', 'mouthStretch_L',
    'mouthStretch_R', 'mouthUpperUp_L', 'mouthUpperUp_R', 'noseSneer_L', 'noseSneer_R')
def test_plan_names_every_arkit_shape_but_the_tongue():
    plan = dict(expression_keys.shape_key_plan(ICT_NAMES))
    arkit = set(expression_keys.ARKIT_BLENDSHAPES)
    assert arkit - set(plan) == {"tongueOut"}
    assert set(plan) - arkit == {"cheekRaiser_L", "cheekRaiser_R"}
    assert len(plan) == 53
    index = ICT_NAMES.index
    assert plan["eyeBlinkLeft"] == ((index("eyeBlink_L"), 1.0),)
    assert plan["mouthSmileRight"] == ((index("mouthSmile_R"), 1.0),)
    assert plan["browInnerUp"] == ((index("browInnerUp_L"), 1.0), (index("browInnerUp_R"), 1.0))
    assert plan["cheekPuff"] == ((index("cheekPuff_L"), 1.0), (index("cheekPuff_R"), 1.0))
    used = {i for parts in plan.values() for i, _ in parts}
    assert {ICT_NAMES[i] for i in set(range(57)) - used} == {"PupilDilate_L", "PupilDilate_R"}
    # In Live Link Face's column order.
    keys = [k for k in plan if k in arkit]
    assert keys == [k for k in expression_keys.ARKIT_BLENDSHAPES if k in plan]


@pytest.mark.parametrize("text, parsed", [("07:44:57:02.944", (7, 44, 57, 2, 0.944)),
                                          ("00:00:01:59", (0, 0, 1, 59, 0.0)),
                                          ("10:00:00;12.5", (10, 0, 0, 12, 0.5))])
def test_timecodes(text, parsed):
    assert livelink.parse_timecode(text) == pytest.approx(parsed)
    assert livelink.timecode_frames(parsed, 60.0) == pytest.approx(
        ((parsed[0] * 60 + parsed[1]) * 60 + parsed[2]) * 60 + parsed[3] + parsed[4])


@pytest.mark.parametrize("bad", ["7:44:57", "07:44:57:xx", "", "1.5"])
def test_bad_timecodes(bad):
    with pytest.raises(ValueError):
        livelink.parse_timecode(bad)


def test_take_rate_from_the_timecodes_and_times(tmp_path):
    path = tmp_path / "take.csv"
    rows = [(f"12:00:0{s}:{f:02d}.000", {"JawOpen": 0.01 * (s * 30 + f)})
            for s, f in [(0, 27), (0, 28), (0, 29), (1, 0), (1, 1)]]
    write_take(path, rows)
    take = livelink.read_take(path)
    assert take.frame_rate == 30.0 and take.rate_source == "file"
    np.testing.assert_allclose(take.frames, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(take.curves["JawOpen"], [0.27, 0.28, 0.29, 0.30, 0.31])
    assert "Timecode" not in take.curves and "BlendShapeCount" not in take.curves
    assert take.start_timecode == "12:00:00:27"
    given = livelink.read_take(path, frame_rate=60.0)
    assert given.rate_source == "given"
    np.testing.assert_allclose(given.frames, [0, 1, 2, 33, 34])  # 60 frames to the second


def test_short_take_assumes_sixty(tmp_path):
    path = tmp_path / "short.csv"
    write_take(path, [("01:02:03:04.500", {}), ("01:02:03:05.500", {})])
    take = livelink.read_take(path)
    assert take.frame_rate == 60.0 and take.rate_source == "assumed"
    np.testing.assert_allclose(take.frames, [0.0, 1.0])


def test_columns_match_shape_keys_case_insensitively():
    matched, unmatched = livelink.match_columns(["EyeBlinkLeft", "JAWOPEN", "HeadYaw", "TongueOut"],
                                                ["eyeBlinkLeft", "jawOpen", "cheekRaiser_L"])
    assert matched == {"EyeBlinkLeft": "eyeBlinkLeft", "JAWOPEN": "jawOpen"}
    assert unmatched == ["HeadYaw", "TongueOut"]


@pytest.mark.parametrize("content, message", [("", "Timecode"), ("Name,Value\nx,1\n", "Timecode"),
                                               ("Timecode,BlendShapeCount\nnoon,1\n", "no rows")])
def test_not_a_take_is_one_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(livelink.LiveLinkError, match=message) as error:
        livelink.read_take(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_bad_rows_are_skipped_and_counted(tmp_path):
    path = tmp_path / "take.csv"
    write_take(path, [("00:00:00:00", {"JawOpen": 0.5}), ("00:00:00:01", {"JawOpen": 0.6})])
    path.write_text(path.read_text() + "00:00:00:02,61,oops\n")
    take = livelink.read_take(path)
    assert take.skipped_rows == 1 and len(take.frames) == 2

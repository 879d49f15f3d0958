"""The poll shared by the operators that work on the active armature."""

from __future__ import annotations


class ActiveArmaturePoll:
    """Mixin: the operator needs an active armature (the face selected with it)."""

    poll_message = "make an armature the active object (select the face first, then the armature)"

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        if obj is None or obj.type != 'ARMATURE':
            cls.poll_message_set(cls.poll_message)
            return False
        return True

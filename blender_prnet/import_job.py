"""Running an import (a ``batch.BatchJob`` of one or more photos) without blocking Blender.

From the UI the operator goes modal: the engine runs in one worker thread (it
never touches bpy), a 0.1 s window timer polls it, the Blender data is built on
the main thread, the status bar and the window's progress indicator show how
far it is, and Esc cancels (a photo still in the engine is dropped when it
returns). Scripts and redo (Adjust Last Operation) run the same job synchronously.
"""

from __future__ import annotations

import concurrent.futures
import os
import time


from . import runner

# Called as hook(done, total) after each photo; tests use it to cancel mid-batch.
PROGRESS_HOOKS: list = []
# Operators running modally right now (so they can be cancelled, and tests can drive them).
RUNNING: list = []
STEPS_PER_PHOTO = 3  # waiting / loading the model, reconstructing (and expressions), built
_STAGE_STEP = {runner.LOADING: 0, runner.RECONSTRUCTING: 1, runner.EXPRESSIONS: 2}
_cancel_requested = False


def request_cancel() -> None:
    """Ask running imports to stop before their next photo (what Esc does in the UI)."""
    global _cancel_requested
    _cancel_requested = True


class ImportJobRunner:
    """Mixin for the import operators: ``run_job`` and ``modal``; the operator supplies
    ``job_finished(context, job)``, which reports and returns the operator's result."""

    _job = None
    _importer = None
    _executor = None
    _future = None
    _future_path = ""
    _future_started = 0.0
    _timer = None
    _invoked = False  # set by invoke: the UI path (redo and scripts run synchronously)
    _ended = False

    def run_job(self, context, job, importer) -> set[str]:
        global _cancel_requested
        _cancel_requested = False
        self._job, self._importer, self._ended = job, importer, False
        wm = context.window_manager
        wm.progress_begin(0, STEPS_PER_PHOTO * job.total)
        if (self._invoked or self.asynchronous) and context.window is not None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="prnet-import")
            self._timer = wm.event_timer_add(0.1, window=context.window)
            wm.modal_handler_add(self)
            RUNNING.append(self)
            self._submit_next()
            self._show_progress(context)
            return {'RUNNING_MODAL'}
        while not job.finished:
            job.step()
            self._after_photo(context)
        return self._end(context)

    # -- modal: the engine in the worker, Blender data here ------------------------------
    def modal(self, context, event):
        job = self._job
        if event.type == 'ESC':
            job.cancel()
            return self._end(context)
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        if self._future is not None and self._future.done():
            future, self._future = self._future, None
            error = future.exception()
            job.finish_photo(self._future_path, None if error else future.result(), error)
            self._after_photo(context)
            self._submit_next()
        if self._future is None and job.finished:
            return self._end(context)
        self._show_progress(context)
        return {'RUNNING_MODAL'}

    def _submit_next(self) -> None:
        """Hand the next photo to the worker (the engine part only: no bpy there)."""
        job = self._job
        if job.finished:
            return
        self._future_path = job.next_path()
        self._future_started = time.perf_counter()
        self._importer.stage = ""
        self._future = self._executor.submit(job.compute, self._future_path)

    def cancel(self, context):
        if self._job is not None and not self._ended:
            self._job.cancel()
            self._end(context)

    # -- shared ------------------------------------------------------------------------
    def _after_photo(self, context) -> None:
        job = self._job
        context.window_manager.progress_update(STEPS_PER_PHOTO * job.done)
        for hook in list(PROGRESS_HOOKS):
            hook(job.done, job.total)
        if _cancel_requested:
            job.cancel()

    def status_text(self) -> str:
        job = self._job
        if job.total == 1:
            text = f"PRNet: {os.path.basename(job.paths[0])}"
        else:
            text = f"PRNet: {job.done}/{job.total} photos, {job.faces} face(s)"
        if self._future is not None:
            stage = self._importer.stage or "waiting for the engine"
            text += f", {stage} {time.perf_counter() - self._future_started:.1f} s"
        return text + " (Esc to cancel)"

    def _show_progress(self, context) -> None:
        job = self._job
        step = STEPS_PER_PHOTO * job.done
        if self._future is not None:
            step += _STAGE_STEP.get(self._importer.stage, 0)
        context.window_manager.progress_update(step)
        workspace = getattr(context, "workspace", None)
        if workspace is not None:
            workspace.status_text_set(self.status_text())

    def _end(self, context) -> set[str]:
        self._ended = True
        wm = context.window_manager
        wm.progress_end()
        workspace = getattr(context, "workspace", None)
        if workspace is not None and self._timer is not None:
            workspace.status_text_set(None)
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self in RUNNING:
            RUNNING.remove(self)
        self.asynchronous = False  # a redo of this run must not go modal
        if self._importer.built:  # e.g. a face that came in without its expression shape keys
            for warning in dict.fromkeys(self._importer.warnings):
                self.report({'WARNING'}, warning)
        return self.job_finished(context, self._job)

    def job_finished(self, context, job) -> set[str]:
        raise NotImplementedError

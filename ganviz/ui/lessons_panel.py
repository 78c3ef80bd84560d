"""The Lessons panel: a dock that plays a lesson (ganviz/lessons/*.toml) step by step in the window.

Loading a lesson gives the window's worker a new Session of the lesson's lanes; each step's actions
go through the worker like every other command, a wait on iterations or metrics plays until it
holds (read from the window's latest Frame) and then pauses, and Next is enabled. Back goes to the
previous step and applies its actions again from the current state.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QDockWidget, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout,
                               QWidget)

from ganviz.core import lessons
from ganviz.core.lessons import Lesson, frame_values
from ganviz.core.session import Session


class LessonsPanel(QDockWidget):
    def __init__(self, window):
        super().__init__("Lessons", window)
        self.setObjectName("lessonsPanel")
        self.window_ = window
        self.lesson: Lesson | None = None
        self.index = -1
        self.met = False
        self._seq = 0          # the command after which the frame shows this step's state
        self._start_it = 0
        self.items = lessons.available()

        body = QWidget()
        # At the bottom, in three columns: the window is full from 1024 px wide on, but not tall.
        outer = QHBoxLayout(body)
        outer.setContentsMargins(6, 2, 6, 4)
        left = QVBoxLayout()
        self.combo = QComboBox(objectName="lessonCombo")
        self.combo.addItem("Choose a lesson or scenario…", None)
        for item in self.items:
            self.combo.addItem(f"{item.order}. {item.title}" if item.kind == "lesson" else item.title, item.name)
        self.combo.setToolTip("Lessons walk through THEORY.md step by step; scenarios set everything "
                              "(settings and a seed) to show one effect")
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(20)
        self.combo.activated.connect(self._chosen)
        left.addWidget(self.combo)
        self.title = QLabel(objectName="lessonTitle")
        self.title.setWordWrap(True)
        self.title.setStyleSheet("font-weight: bold")
        left.addWidget(self.title)
        left.addStretch(1)
        from ganviz.ui.target_picker import TargetPicker

        self.targets = TargetPicker(window)
        left.addWidget(self.targets)
        self.text = QLabel("Pick a lesson: it sets up the runs, tells you what to look at, and trains "
                           "until there is something to see. Scenarios set everything to show one effect.",
                           objectName="lessonText")
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right = QVBoxLayout()
        self.status = QLabel(objectName="lessonStatus")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #555")
        right.addWidget(self.status, 1)
        row = QHBoxLayout()
        self.back_button = QPushButton("◀ Back", objectName="lessonBackButton")
        self.back_button.setToolTip("The previous step (its actions are applied again to the current runs)")
        self.next_button = QPushButton("Next ▶", objectName="lessonNextButton")
        self.next_button.setToolTip("The next step, once this one's wait is over")
        self.back_button.clicked.connect(self.back)
        self.next_button.clicked.connect(self.next)
        row.addWidget(self.back_button)
        row.addWidget(self.next_button)
        right.addLayout(row)
        left_box, right_box = QWidget(), QWidget()
        left_box.setLayout(left)
        right_box.setLayout(right)
        left_box.setFixedWidth(250)
        right_box.setFixedWidth(200)
        for box in (left_box, right_box):
            box.layout().setContentsMargins(0, 0, 0, 0)
        outer.addWidget(left_box)
        outer.addWidget(self.text, 1)
        outer.addWidget(right_box)
        body.setMinimumHeight(104)
        body.setMaximumHeight(150)  # the plots keep the height
        self.setWidget(body)
        self._buttons()

        self.timer = QTimer(self)
        self.timer.setInterval(150)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    # --- commands -------------------------------------------------------------------------------
    def _chosen(self, index: int) -> None:
        name = self.combo.itemData(index)
        if name:
            self.load(name)

    def load(self, name_or_lesson: str | Lesson) -> None:
        """Start a lesson (by name or as a Lesson) in the window: new runs, step 1."""
        lesson = lessons.load(name_or_lesson) if isinstance(name_or_lesson, str) else name_or_lesson
        try:
            session = lesson.session()
        except Exception as exc:  # e.g. MNIST missing: say so, keep the current run
            self.window_.say(f"Could not start the lesson {lesson.title}: {exc}", error=True)
            return
        self.lesson = lesson
        i = self.combo.findData(lesson.name)
        if i >= 0:
            self.combo.setCurrentIndex(i)
        self.title.setText(lesson.title)
        session.notice(f"Lesson: {lesson.title}")
        stopped = getattr(self.window_, "_show_stopped", None)
        if stopped is not None:
            stopped()
        self.window_._posted = self._seq = self.window_.worker.replace_session(session)
        self.show()
        self.raise_()
        self.enter(0, start=0)

    def _post(self, command, *args) -> int:
        post = getattr(self.window_, "_post", None)
        self._seq = post(command, *args) if post is not None else self.window_.worker.call(command, *args)
        return self._seq

    def enter(self, index: int, start: int | None = None) -> None:
        """Show step `index` and apply its actions; a training wait plays until it holds."""
        if self.lesson is None:
            return
        self.index = index
        step = self.lesson.steps[index]
        self.met = False
        frame = self.window_.frame
        self._start_it = start if start is not None else (
            max((lane.iteration for lane in frame.lanes), default=0) if frame is not None else 0)
        self.text.setText(f"Step {index + 1} of {len(self.lesson.steps)}. {step.text}")
        for action in step.actions:
            self._post(_apply(action))
        if step.until is not None and step.until.trains:
            self._post(Session.play)
        self.status.setText(f"waiting until {step.until.text}…" if step.until is not None else "")
        self._buttons()
        self.poll()

    def next(self) -> None:
        if self.lesson is not None and self.index + 1 < len(self.lesson.steps):
            self.enter(self.index + 1)

    def back(self) -> None:
        if self.lesson is not None and self.index > 0:
            self.enter(self.index - 1)

    # --- waiting ---------------------------------------------------------------------------------
    def poll(self) -> None:
        """Check the step's wait on the window's latest Frame."""
        if self.window_.frame is not None and self.isVisible():
            self.targets.show_mode(self.window_.frame.mode)
        if self.lesson is None or self.met:
            return
        frame = self.window_.frame
        if frame is None or frame.applied < self._seq:
            return
        step = self.lesson.steps[self.index]
        values = frame_values(frame)
        iteration = max((lane.iteration for lane in frame.lanes), default=0)
        if step.until is None or step.until.holds(values):
            self.met = True
            if step.until is not None and step.until.trains:
                self._post(Session.pause)
            last = self.index + 1 == len(self.lesson.steps)
            self.status.setText(("✓ " + step.until.text + ". " if step.until is not None else "")
                                + ("End of the lesson." if last else "Press Next."))
        elif step.until.trains and iteration - self._start_it > step.budget and frame.state == "paused":
            self.met = True
            self.status.setText(f"Not reached in {step.budget} iterations ({step.until.text}); press Next to go on.")
        elif step.until.trains and frame.state == "paused" and all(lane.state == "diverged" for lane in frame.lanes):
            self.met = True
            self.status.setText("Every run has diverged; press Next to go on.")
        elif step.until.trains and frame.state == "paused":
            self._post(Session.play)  # someone paused it: the wait needs training
        else:
            now = step.until.left.value(values)
            self.status.setText(f"waiting until {step.until.text} (now {now:.4g})…")
        self._buttons()

    def _buttons(self) -> None:
        has = self.lesson is not None
        self.back_button.setEnabled(has and self.index > 0)
        self.next_button.setEnabled(has and self.met and self.index + 1 < len(self.lesson.steps))


def _apply(action):
    def apply(session):
        action.apply(session)

    apply.__name__ = action.do
    return apply


def install_lessons_panel(window) -> LessonsPanel:
    """The Lessons dock (hidden until a lesson is chosen) and a Lessons menu with the scenarios."""
    panel = LessonsPanel(window)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, panel)
    panel.hide()
    menu = window.menuBar().addMenu("&Lessons")
    toggle = panel.toggleViewAction()
    toggle.setText("Lessons panel")
    toggle.setShortcut("Ctrl+L")
    menu.addAction(toggle)
    lesson_menu = menu.addMenu("Lesson")
    scenario_menu = menu.addMenu("Scenario")
    for item in panel.items:
        target = lesson_menu if item.kind == "lesson" else scenario_menu
        action = QAction(item.title, window)
        action.triggered.connect(lambda _=False, name=item.name: panel.load(name))
        target.addAction(action)
    window.lessons_panel = panel
    return panel

"""Hook implementations of the tracker plugin: none registered yet.

The tracker needs what the core is building (issue 7): solutions composed of models by role
(``bytetrack`` = a detector + this numpy tracker), predictors built from several components
(``nanotrack`` = ``template`` + ``search`` ncnn sessions), stateful predictors with ``reset()``,
video sources and shared result types. Until those hooks exist this module registers nothing,
so that loading the plugin never fails; what it will register is listed in the integration
notes of the branch's final report:

* task ``tracker`` (result ``zoo_tracker.result.Tracks``, agreement ``result.agreement``, draw
  ``result.draw``, evaluator ``zoo_tracker.mot.evaluate_dirs``), run options ``track_thresh``,
  ``match_thresh``, ``track_buffer``, ``init`` (x,y,w,h for single-object tracking);
* solution ``bytetrack``: role ``detector`` (any model of task ``detector``) + ``ByteTracker``;
* model ``nanotrack`` (components ``template`` and ``search``, ``zoo_tracker.sot.nets``; weights in
  the layout of HonglinChu/SiamTrackers' ``nanotrackv3.pth``) with ``zoo_tracker.sot.siamese``.
"""

"""The gradient check: each parameter entry's analytic gradient against a numerical one, by
central differences or by the complex step, batched so that every entry of a model is affordable:
the report's model has its own fast path (vanilla), any cell and number of layers the generic one,
and both run in chunks on a thread pool within a memory and time budget (batch); check builds the
rows of the report's Table 1 (the elementwise relative error that decides pass or fail, and the
report's two criteria, max and sum of the differences over the parameter's whole gradient sum),
table shows them as a rich or Markdown table with a one-line verdict, and common holds the methods
and defaults they share. From tui_rnn it may import only cells and safe, nothing above them.
"""

"""The composition root: starting and resuming runs (`runner`), lab groups (`labs`), wiring a run's services (`services`), the duration estimate and the machine readiness checks."""

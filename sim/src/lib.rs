//! Deterministic simulation of ddbrep on turmoil (after issues #5 to #9). Not built yet.

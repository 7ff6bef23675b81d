"""What each rule runs, per part of the study."""

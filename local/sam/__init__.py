"""SAM's part: template.yaml read into what the local stack runs (`template`), its
intrinsic functions (`intrinsics`) and the objects it yields (`model`)."""

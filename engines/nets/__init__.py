"""Our network definitions (YoloNet, CenterNetNet), their blocks and weights-file format."""

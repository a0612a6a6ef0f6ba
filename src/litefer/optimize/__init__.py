"""Training-half tools that produce deployable artefacts: ONNX export (export, card), pruning
(prune, structured, compress, finetune), quantisation (quantize), compilation (compile), and the
`litefer optimize` chain with its reports (chain, report, artefact)."""

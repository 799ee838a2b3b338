"""Shortcut audits: is the model right for the wrong reasons?

``artefacts`` finds burned-in markers, text and rulers without labels;
``regions`` gives the body mask, the border band, inpainting and random
placement of artefact shapes for the null and counterfactual controls.
"""

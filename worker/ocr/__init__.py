"""OCR of uploaded images and PDFs: the stage between "a photo lands in the inbox" and "a document row".

``sniff`` recognises the inputs from their first bytes; ``child`` is the only code that decodes them (PDF
parser, image decoders, Tesseract), in an OS process of its own with memory, time and pixel limits; ``run``
starts it and reads its answer; ``assemble`` turns Tesseract's hOCR into the same pages ingestion stores for
dropped OCR results (the existing hOCR parser); ``stage`` commits the document and lets the file leave the
inbox; ``workspace`` owns the private temporary folders. Details: docs/ocr.md.
"""

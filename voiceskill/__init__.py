"""voiceskill: an offline voice coach that answers questions from a trusted article."""

__version__ = "0.1.0"

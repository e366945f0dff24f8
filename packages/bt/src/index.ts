export { Block, DEFAULT_HOT_THRESHOLD, Translator, type TranslatorOptions, type TranslatorStats } from "./translator.js";

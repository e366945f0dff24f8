// Flat config: typescript-eslint's recommended rules over every package and app.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/dist/**", "**/node_modules/**", "**/.turbo/**", "guests/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { console: "readonly", process: "readonly", Buffer: "readonly", URL: "readonly" },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Bit-twiddling emulator code relies on `x | 0`, `>>> 0` and constant loops.
      "no-constant-condition": ["error", { checkLoops: false }],
      "no-fallthrough": "error",
    },
  },
);

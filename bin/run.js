#!/usr/bin/env node
// bmlb CLI entry: runs the compiled commands from dist/ (npm run build).
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });

import type { Verb } from '../command.ts';
import { decisionCommand } from './decide.ts';

export const verb: Verb = { '': decisionCommand('deny') };

import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ApplicationIntegrationType,
  InteractionContextType,
  type RESTPutAPIApplicationCommandsJSONBody,
} from 'discord.js';
import { HELP_COMMAND, READ_COMMAND } from './to-request.ts';

/**
 * The slash commands, registered globally with PUT /applications/{application.id}/commands
 * ("Bulk Overwrite Global Application Commands": idempotent, so every start may send it).
 */
export const slashCommands: RESTPutAPIApplicationCommandsJSONBody = [
  {
    type: ApplicationCommandType.ChatInput,
    name: READ_COMMAND,
    description: 'Second look at a de-identified image or DICOM (not for diagnostic use)',
    integration_types: [ApplicationIntegrationType.GuildInstall],
    contexts: [InteractionContextType.Guild, InteractionContextType.BotDM],
    options: [
      {
        type: ApplicationCommandOptionType.Attachment,
        name: 'image',
        description: 'A de-identified image (PNG, JPEG, WebP, TIFF) or DICOM file',
        required: true,
      },
      {
        type: ApplicationCommandOptionType.String,
        name: 'question',
        description: 'What should the read focus on?',
        required: false,
        max_length: 1000,
      },
      // More views, slices or a prior: every image of one /read is read together as one study (issue 17).
      ...[2, 3, 4].map((n) => ({
        type: ApplicationCommandOptionType.Attachment as const,
        name: `image${n}`,
        description: `Another image of the same study (view, slice or prior), read together with the first`,
        required: false,
      })),
    ],
  },
  {
    type: ApplicationCommandType.ChatInput,
    name: HELP_COMMAND,
    description: 'How to use quickread, queue status and the model in use',
    integration_types: [ApplicationIntegrationType.GuildInstall],
    contexts: [InteractionContextType.Guild, InteractionContextType.BotDM],
  },
];

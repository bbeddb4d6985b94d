"""The ground floor: errors, atomic writes, time limits, package files, the machine and torchrun. Imports nothing else of flashivy."""
